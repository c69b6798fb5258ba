"""Grading exercises: a pytest plugin for points and reports, a runner that puts student code
in its own process with a time limit, reports for people and for autograders, and the
instructor's tools (verify, new, release)."""

# How the grader talks to the test process it starts (read by the pytest plugin).
REPORT_ENV = "SANDBOX_GRADING_REPORT_FD"  # a pipe's file descriptor: JSON lines for the runner
STUDENT_DIR_ENV = "SANDBOX_STUDENT_DIR"  # where the student's files are (default: the exercise)
COURSE_DIR_ENV = "SANDBOX_COURSE_DIR"  # the course folder, hidden from the worker
CPU_ENV = "SANDBOX_GRADING_CPU"  # the processor the test process and its worker share
