"""`python -m services.file_service`: the File Service's lifecycle (services.mesh.runtime)."""

from services.file_service.bootstrap import PROGRAM
from services.mesh.runtime import run_program

# The guard matters: extraction workers re-import this module as __mp_main__.
if __name__ == "__main__":
    run_program(PROGRAM)
