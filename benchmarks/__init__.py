"""mm7bind benchmark runner: `python -m benchmarks [--json] [--quick] [--only NAME]`."""
