"""wloadctl.raft"""
