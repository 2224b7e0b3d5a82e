from krakend_tools.cli import main

main()
