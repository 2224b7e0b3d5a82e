from krakend_tools.main import main

main()
