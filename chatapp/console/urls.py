"""URLs."""

urlpatterns: list[object] = []
