"""The code forges ci-track reports to (the sticky comment, the commit status, the check run): GitHub today."""
