"""The holiday calendar the centre works by, and the due dates (承诺时限) counted on it."""
