"""wloadctl.cli"""
