"""One module per composed concern, in the order the real world builds them."""
