"""wloadctl.state"""
