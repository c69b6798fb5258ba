"""Hidden tests: a republished order, a failure half way through, and another crashing run."""

from __future__ import annotations

from types import ModuleType

import pytest

from sandbox.grading.plugin import sibling, student_copy

visible = sibling(__file__, "test_order_consumer.py")


@pytest.mark.points(2)
def test_the_same_order_in_a_new_job(student: ModuleType) -> None:
    """The producer published the order twice: the second job (a new id) changes nothing."""
    conn, email = visible.shop(), visible.Email()
    student.confirm_order(conn, "1-0", visible.job(), visible.NOW_S, email)
    counted = visible.sold(conn, 7, 9)
    again = student.confirm_order(conn, "2-0", visible.job(), visible.NOW_S, email)
    assert again is False and visible.sold(conn, 7, 9) == counted, (
        "a second job for an order already confirmed must do nothing and return False: decide "
        "by the order, not by the job id")


@pytest.mark.points(2)
def test_two_worker_processes_share_only_the_database(student: ModuleType) -> None:
    """A job redelivered to a worker in another process (its own copy of your module) is a no-op."""
    conn, email = visible.shop(), visible.Email()
    other_worker = student_copy(__file__, student)
    student.confirm_order(conn, "1-0", visible.job(), visible.NOW_S, email)
    counted = visible.sold(conn, 7, 9)
    again = other_worker.confirm_order(conn, "1-0", visible.job(), visible.NOW_S, email)
    assert again is False and visible.sold(conn, 7, 9) == counted, (
        "another worker process got the job again and did the work a second time: what "
        "workers remember in Python (a set, a dict) dies with their process and is not shared; "
        "the database is")


@pytest.mark.points(3)
def test_a_failure_half_way_leaves_nothing_behind(student: ModuleType) -> None:
    """A statement fails after the first line was counted: all of it is undone, then retried."""
    conn, email = visible.shop(), visible.Email()
    broken = 4_999
    conn.db.conn.execute(
        f"CREATE TRIGGER disk_full BEFORE INSERT ON product_sales WHEN NEW.product_id = {broken} "
        "BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    lines = [[7, 2], [broken, 1]]
    before = visible.sold(conn, 7, broken)
    with pytest.raises(Exception, match="disk full"):
        student.confirm_order(conn, "1-0", visible.job(lines=lines), visible.NOW_S, email)
    assert visible.confirmations(conn) == [] and visible.sold(conn, 7, broken) == before, (
        "counting the second line failed, yet the confirmation or the first line's sales stayed "
        "in the database. Do the writes in one transaction, so a failure undoes all of them")
    conn.db.conn.execute("DROP TRIGGER disk_full")
    assert student.confirm_order(conn, "1-0", visible.job(lines=lines), visible.NOW_S, email)
    assert visible.sold(conn, 7, broken) == {7: before[7] + 2, broken: before[broken] + 1}


@pytest.mark.points(3)
def test_crashing_workers_with_another_seed(student: ModuleType) -> None:
    """Another run: more workers, quicker takeover, a different seed; the same facts hold."""
    visible.crashing_workers(student, 100, seed=11,
                             switches={"queue.workers": 4, "queue.visibility_timeout_s": 1.0})
