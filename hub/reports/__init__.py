"""Performance evaluation (绩效评估): volumes, processing times, promised-time compliance, satisfaction."""
