"""URL routes of the Django example."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    path("api/info/", views.info, name="info"),
    path("hello/<str:name>/", views.hello, name="hello"),
]
