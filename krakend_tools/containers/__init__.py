"""The container engine behind one class, and the target images (runtime and builder) it runs."""
