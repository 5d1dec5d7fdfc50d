"""`python -m services.essay_lifecycle`: ELS's lifecycle (services.mesh.runtime)."""

from services.essay_lifecycle.bootstrap import PROGRAM
from services.mesh.runtime import run_program

if __name__ == "__main__":
    run_program(PROGRAM)
