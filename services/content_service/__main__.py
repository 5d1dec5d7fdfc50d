"""`python -m services.content_service`: the Content Service's lifecycle (services.mesh.runtime)."""

from services.content_service.bootstrap import PROGRAM
from services.mesh.runtime import run_program

if __name__ == "__main__":
    run_program(PROGRAM)
