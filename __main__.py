from septum.compiler.cli import main

main()
