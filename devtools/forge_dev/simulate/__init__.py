"""The providers played, and the loops that drive an XR to Ready with them."""
