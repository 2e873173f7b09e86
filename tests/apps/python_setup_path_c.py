VALUE = "from directory c, named by a .pth file in b"
