"""wloadctl.model"""
