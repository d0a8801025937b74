"""The simulator's timing defaults, one definition read by `SimulatorConfig`, `mm7bind simulate` and
the pytest fixture (a module of its own, light: the command line gives them in its help without
importing the simulator)."""

from __future__ import annotations

# Seconds from a SubmitReq to its delivery (and report), and to its read replies (never before the report).
REPORT_DELAY = 0.5
READ_DELAY = 1.0

# The mm7_simulator fixture's, sooner on purpose: a test suite waits for every report it checks. A
# test that cancels or replaces gives itself time: @pytest.mark.mm7_simulator(report_delay=60).
FIXTURE_REPORT_DELAY = 0.1
FIXTURE_READ_DELAY = 0.2

# How long a report, read reply or MO waits for the VASP's answer, each attempt (SimulatorConfig.vasp_timeout):
# an MMSC's 30 s; the fixture's shorter, so a test whose handler is stuck (a deliver() waits for it,
# each of report_attempts) fails in seconds, within its wait_for's 10, not a minute.
VASP_TIMEOUT = 30.0
FIXTURE_VASP_TIMEOUT = 5.0

# The most recipients (To, Cc and Bcc) one SubmitReq may name (more: 3003), as an MMSC caps them:
# every recipient is a delivery to schedule and report. mm7bind's own send API takes as many.
MAX_RECIPIENTS = 1000
