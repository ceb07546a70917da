"""wloadctl.server"""
