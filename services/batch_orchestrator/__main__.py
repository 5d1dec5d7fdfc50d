"""`python -m services.batch_orchestrator`: BOS's lifecycle (services.mesh.runtime)."""

from services.batch_orchestrator.bootstrap import PROGRAM
from services.mesh.runtime import run_program

if __name__ == "__main__":
    run_program(PROGRAM)
