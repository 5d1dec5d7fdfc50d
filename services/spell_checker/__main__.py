"""`python -m services.spell_checker`: the Spell Checker's lifecycle (services.mesh.runtime)."""

from services.mesh.runtime import run_program
from services.spell_checker.bootstrap import PROGRAM

# The guard matters: the checking workers (spawned) re-import this module as __mp_main__.
if __name__ == "__main__":
    run_program(PROGRAM)
