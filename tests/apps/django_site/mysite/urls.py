from django.urls import path

from . import views

urlpatterns = [
    path("info/", views.info, name="info"),
    path("form/", views.form, name="form"),
    path("items/<int:item_id>/", views.item, name="item"),
]
