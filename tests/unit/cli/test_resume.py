"""`huleedu submit --request-id`: the request it sends, and the command that resumes a submission
the retries could not finish."""

from __future__ import annotations

from pathlib import Path

from services.cli.submit import SubmitOptions, registration, resume_command

REQUEST_ID = "5f0c1c2e-3b1d-4c55-9a0e-2f7b9f3c8d11"


def test_a_request_id_asked_for_is_the_one_sent() -> None:
    options = SubmitOptions(paths=[], request_id=REQUEST_ID)
    assert registration(options, 3).request_id == registration(options, 3).request_id == REQUEST_ID


def test_the_resume_command_is_the_typed_one_with_the_request_id_added() -> None:
    typed = ["submit", "my class", "--title", "Week 3", "--batch-orchestrator-addr", "h:1"]
    options = SubmitOptions(paths=[Path("my class")], title="Week 3", command=typed)
    assert resume_command(options, REQUEST_ID) == (
        f"huleedu submit --request-id {REQUEST_ID} 'my class' --title 'Week 3' "
        "--batch-orchestrator-addr h:1"
    )


def test_a_typed_request_id_is_kept_as_typed() -> None:
    typed = ["submit", f"--request-id={REQUEST_ID}", "essays"]
    options = SubmitOptions(paths=[Path("essays")], request_id=REQUEST_ID, command=typed)
    assert resume_command(options, REQUEST_ID) == f"huleedu submit --request-id={REQUEST_ID} essays"


def test_without_the_typed_command_it_is_built_from_the_paths() -> None:
    options = SubmitOptions(paths=[Path("a.txt"), Path("b c.txt")])
    assert resume_command(options, REQUEST_ID) == (
        f"huleedu submit --request-id {REQUEST_ID} a.txt 'b c.txt'"
    )
