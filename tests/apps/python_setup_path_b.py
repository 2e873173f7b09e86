VALUE = "from directory b"
