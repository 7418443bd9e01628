"""litlab.robotics"""
