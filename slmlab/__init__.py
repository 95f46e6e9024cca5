"""slmlab"""
