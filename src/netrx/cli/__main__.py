from netrx.cli.app import main

main()
