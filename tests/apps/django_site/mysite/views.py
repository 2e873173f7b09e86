from django.http import JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt


def info(request):
    return JsonResponse({
        "method": request.method,
        "path": request.path,
        "path_info": request.path_info,
        "full_path": request.get_full_path(),
        "script_name": request.META["SCRIPT_NAME"],
        "absolute_uri": request.build_absolute_uri(),
        "reverse_info": reverse("info"),
        "reverse_item": reverse("item", args=[42]),
        "query": {key: request.GET.getlist(key) for key in request.GET},
    })


def item(request, item_id):
    return JsonResponse({"item_id": item_id, "self": reverse("item", args=[item_id])})


@csrf_exempt
def form(request):
    if request.method != "POST":
        return JsonResponse({"error": "POST only"}, status=405)
    return JsonResponse({
        "content_type": request.content_type,
        "name": request.POST.get("name"),
        "tags": request.POST.getlist("tag"),
        "comment": request.POST.get("comment"),
        "keys": sorted(request.POST.keys()),
        "query": request.GET.get("q"),
    })
