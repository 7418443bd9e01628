"""litlab.alignment"""
