from drplan.cli.main import main

main()
