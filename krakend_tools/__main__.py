from krakend_tools.cli.main import main

main()
