VALUE = "from directory a"
