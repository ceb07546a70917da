"""wloadctl.api"""
