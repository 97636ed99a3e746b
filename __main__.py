from septum.compiler.cli import run

run()
