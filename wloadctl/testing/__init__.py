"""wloadctl.testing"""
