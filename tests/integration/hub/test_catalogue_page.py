"""The catalogue page (/fleet/catalogue) records every change under the user signed in: an operator edits
an item, publishes, starts another draft and throws it away, and the audit chain and the version list
name them — not "web". Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re

from sqlalchemy import select, text

from hub.db.models import AuditEntry, table
from tests.integration.hub.test_pages import _csrf, _sign_in


def _ga003_form(token: str, promised_days: str, materials: list[str], opened: str | None = None) -> dict[str, str]:
    """The editor's form for GA-003 as a manager posts it: ``materials`` each required; ``opened``: the
    editor page it was filled on, whose item hash the form sends back (``based_on``)."""
    form = {
        "name": "居住证签注",
        "description": "居住证有效期满前办理签注。",
        "promised_days": promised_days,
        "statutory_days": "15",
        "_csrf_token": token,
    }
    for i, material in enumerate(materials):
        form |= {f"materials-{i}-name": material, f"materials-{i}-required": "on"}
    if opened is not None:
        form["based_on"] = re.search(r'name="based_on" value="([^"]+)"', opened).group(1)
    return form


def test_a_catalogue_edit_on_the_catalogue_page_is_recorded_under_the_signed_in_user(hub, client, people):
    _sign_in(client, "operator")
    token = _csrf(client.get("/fleet/catalogue/").text)
    item = client.get("/fleet/catalogue/items/GA-003")
    assert item.status_code == 200 and "居住证签注" in item.text
    form = _ga003_form(token, "2", ["居住证", "身份证"])
    saved = client.post("/fleet/catalogue/items/GA-003", data=form, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    assert "已保存 GA-003（草稿）" in client.get(saved.headers["location"]).text
    asked = client.post("/fleet/catalogue/publish", data={"note": "缩短签注时限", "_csrf_token": token})
    assert asked.status_code == 200 and "确认发布" in asked.text and "修改 GA-003" in asked.text  # asked first
    published = client.post(
        "/fleet/catalogue/publish", data={"note": "缩短签注时限", "confirm": "yes", "_csrf_token": token}
    )
    assert published.status_code == 200 and "已发布" in published.text
    assert client.post("/fleet/catalogue/draft", data={"_csrf_token": token}).status_code == 200
    assert client.post("/fleet/catalogue/draft/discard", data={"_csrf_token": token}).status_code == 200

    t = table(AuditEntry)
    with hub.engine.connect() as conn:
        entries = conn.execute(
            select(t.c.actor, t.c.action, t.c.data).where(t.c.action.like("catalogue.%")).order_by(t.c.id)
        ).all()
        version = conn.execute(text("SELECT created_by, published_by FROM catalogue_versions WHERE version = 2")).one()
    assert [(e.actor, e.action) for e in entries] == [
        ("hub", "catalogue.imported"),  # the shipped seed, made version 1 at the first start
        ("hub", "catalogue.published"),
        ("user:operator", "catalogue.draft_started"),
        ("user:operator", "catalogue.item_changed"),
        ("user:operator", "catalogue.published"),
        ("user:operator", "catalogue.draft_started"),
        ("user:operator", "catalogue.draft_discarded"),
    ]
    assert json.loads(entries[3].data)["changed"]["promised_days"] == [3, 2]
    assert tuple(version) == ("user:operator", "user:operator")


def test_the_publish_page_warns_of_terminals_running_a_version_the_hub_lost_and_names_the_version_to_come(
    hub, client, people
):
    """A hub restored from an older backup: its newest version is 1, a terminal reported running version 3
    (as its catalogue report writes it to the fleet's row). The page asking first says so and that the
    draft, numbered 2, is published as version 4; publishing the catalogue unchanged is allowed then."""
    _sign_in(client, "operator")
    token = _csrf(client.get("/fleet/catalogue/").text)
    assert client.post("/fleet/catalogue/draft", data={"_csrf_token": token}).status_code == 200
    with hub.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO fleet_terminals (terminal_id, state, catalogue_version, catalogue_error) "
                "VALUES ('T1', 'online', 3, '')"
            )
        )
    asked = client.post("/fleet/catalogue/publish", data={"_csrf_token": token})
    assert asked.status_code == 200 and "草稿 v2" in asked.text
    assert 'id="publish-ahead"' in asked.text and "正在运行目录 v3，高于中心已发布的最新版本 v1" in asked.text
    assert "确认发布 v4" in asked.text
    published = client.post("/fleet/catalogue/publish", data={"confirm": "yes", "_csrf_token": token})
    assert published.status_code == 200 and "已发布" in published.text
    with hub.engine.connect() as conn:
        versions = conn.execute(text("SELECT version FROM catalogue_versions ORDER BY version")).scalars().all()
    assert versions == [1, 4]


def test_a_link_cannot_put_its_own_words_on_the_catalogue_pages(hub, client, people):
    """A web review: ``?msg=`` showed any text as the page's notice (escaped, but wording for a phishing
    link on a trusted page). Notices now come from a fixed set, named by key."""
    _sign_in(client, "operator")
    words = "系统升级，请到 evil.example 重新输入密码"
    for path in ("/fleet/catalogue/", "/fleet/catalogue/items/GA-003"):
        for param in ("msg", "done"):
            page = client.get(path, params={param: words})
            assert page.status_code == 200 and words not in page.text, (path, param)


def test_a_save_from_an_editor_opened_before_a_colleagues_save_does_not_undo_it(hub, client, people):
    """Two managers open GA-003's editor; one saves a new material. The other's save, made from the page
    opened before, sent every field as it was shown and undid the first's work without a word (a catalogue
    manager's review). It is now refused (409), the page shows the item as saved, and nothing is lost."""
    _sign_in(client, "operator")
    token = _csrf(client.get("/fleet/catalogue/").text)
    opened = client.get("/fleet/catalogue/items/GA-003").text  # both editors show this
    first = _ga003_form(token, "3", ["居住证", "近期免冠照片"], opened)
    assert client.post("/fleet/catalogue/items/GA-003", data=first, follow_redirects=False).status_code == 303
    second = _ga003_form(token, "2", ["居住证"], opened)  # from the page opened before: no photo among its materials
    refused = client.post("/fleet/catalogue/items/GA-003", data=second, follow_redirects=False)
    assert refused.status_code == 409 and "已被他人保存" in refused.text
    assert "近期免冠照片" in refused.text, "the page shows the item as the colleague saved it"
    draft = client.get("/fleet/catalogue/export?draft=1").json()
    (item,) = [i for i in draft["items"] if i["code"] == "GA-003"]
    assert [m["name"] for m in item["materials"]] == ["居住证", "近期免冠照片"] and item["promised_days"] == 3


def test_discarding_a_draft_with_changes_asks_first_and_lists_them(hub, client, people):
    """The draft is every manager's: 放弃草稿 threw a colleague's edits away in one click (a catalogue
    manager's review). With changes in it, the first press lists them; only the confirmation discards."""
    _sign_in(client, "operator")
    token = _csrf(client.get("/fleet/catalogue/").text)
    form = _ga003_form(token, "2", ["居住证"], client.get("/fleet/catalogue/items/GA-003").text)
    assert client.post("/fleet/catalogue/items/GA-003", data=form, follow_redirects=False).status_code == 303
    asked = client.post("/fleet/catalogue/draft/discard", data={"_csrf_token": token}, follow_redirects=False)
    assert asked.status_code == 200 and "确认放弃草稿" in asked.text and "GA-003" in asked.text
    assert client.get("/fleet/catalogue/export?draft=1").status_code == 200, "still there"
    done = client.post("/fleet/catalogue/draft/discard", data={"confirm": "yes", "_csrf_token": token})
    assert done.status_code == 200 and client.get("/fleet/catalogue/export?draft=1").status_code == 400


def test_importing_over_a_draft_with_changes_asks_first_and_keeps_a_colleagues_later_edit(hub, client, people):
    """An import replaced the draft, every manager's, unasked: a colleague's unpublished edits were gone
    (a catalogue manager's review). With changes in the draft, the import needs 替换草稿 ticked on a page
    that showed that very draft; a draft changed since is kept."""
    _sign_in(client, "operator")
    page = client.get("/fleet/catalogue/")
    token = _csrf(page.text)
    published = client.get("/fleet/catalogue/export").content  # the shipped catalogue: GA-003 promised in 3 days
    (shipped,) = [i for i in json.loads(published)["items"] if i["code"] == "GA-003"]

    def imported(**form: str):
        files = {"file": ("catalogue.json", published, "application/json")}
        return client.post("/fleet/catalogue/import", data={"_csrf_token": token, **form}, files=files)

    def draft_days() -> int:
        (item,) = [i for i in client.get("/fleet/catalogue/export?draft=1").json()["items"] if i["code"] == "GA-003"]
        return item["promised_days"]

    assert "replace_draft" not in page.text, "nothing to lose: no question"
    first = imported()
    assert first.status_code == 200 and "已导入为草稿" in first.text
    form = _ga003_form(token, "2", ["居住证"], client.get("/fleet/catalogue/items/GA-003").text)
    assert client.post("/fleet/catalogue/items/GA-003", data=form, follow_redirects=False).status_code == 303

    refused = imported()
    assert refused.status_code == 409 and "尚未发布的修改" in refused.text and draft_days() == 2
    shown = re.search(r'name="replaces" value="([^"]+)"', refused.text).group(1)
    assert 'name="replace_draft"' in refused.text and "修改 GA-003" in refused.text

    form = _ga003_form(token, "4", ["居住证"], client.get("/fleet/catalogue/items/GA-003").text)  # a colleague
    assert client.post("/fleet/catalogue/items/GA-003", data=form, follow_redirects=False).status_code == 303
    stale = imported(replace_draft="yes", replaces=shown)
    assert stale.status_code == 409 and draft_days() == 4, "the page showed the draft before the colleague's save"

    shown = re.search(r'name="replaces" value="([^"]+)"', client.get("/fleet/catalogue/").text).group(1)
    done = imported(replace_draft="yes", replaces=shown)
    assert done.status_code == 200 and draft_days() == shipped["promised_days"] == 3


def test_a_draft_changing_only_a_department_is_not_replaced_unasked(hub, client, people):
    """A draft whose items are the published ones but whose department was renamed holds a change too: the
    import asked to tick a box the page did not show (the box came with item changes only)."""
    _sign_in(client, "operator")
    token = _csrf(client.get("/fleet/catalogue/").text)
    shipped = client.get("/fleet/catalogue/export").content
    renamed = json.loads(shipped)
    renamed["departments"][0]["name"] += "（新址）"

    def imported(content: bytes, **form: str):
        files = {"file": ("catalogue.json", content, "application/json")}
        return client.post("/fleet/catalogue/import", data={"_csrf_token": token, **form}, files=files)

    assert imported(json.dumps(renamed, ensure_ascii=False).encode()).status_code == 200
    page = client.get("/fleet/catalogue/")
    assert 'name="replace_draft"' in page.text and "修改 部门设置" in page.text
    refused = imported(shipped)
    assert refused.status_code == 409
    assert "（新址）" in json.dumps(client.get("/fleet/catalogue/export?draft=1").json(), ensure_ascii=False)
    shown = re.search(r'name="replaces" value="([^"]+)"', refused.text).group(1)
    assert imported(shipped, replace_draft="yes", replaces=shown).status_code == 200
    assert "（新址）" not in json.dumps(client.get("/fleet/catalogue/export?draft=1").json(), ensure_ascii=False)
