from notme.cli import main

main()
