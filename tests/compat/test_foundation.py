"""cs and apache-libcloud against Trellis: login and keys, listApis, listZones, error envelopes."""

import requests
from cs import CloudStackApiException
from libcloud.compute.providers import get_driver
from libcloud.compute.types import Provider


def test_list_apis_has_full_metadata(cs):
    apis = cs.listApis()
    assert apis["count"] == len(apis["api"]) > 50
    for api in apis["api"]:
        assert isinstance(api["isasync"], bool)
        for p in api["params"]:
            assert isinstance(p["required"], bool) and isinstance(p["description"], str)
    names = {a["name"] for a in apis["api"]}
    assert {"createExtension", "runCustomAction", "deployVirtualMachine"} <= names


def test_list_zones_empty_then_one(cs):
    before = cs.listZones()
    zone = cs.createZone(name="compat-foundation-zone", dns1="192.0.2.1")["zone"]
    after = cs.listZones(fetch_list=True)
    assert any(z["id"] == zone["id"] for z in after)
    assert len(after) == len(before.get("zone", [])) + 1


def test_error_envelope_and_status(cs):
    try:
        cs.createExtension(type="Orchestrator")
    except CloudStackApiException as e:
        assert e.error["errorcode"] == 431
        assert e.error["errortext"] == "Unable to execute API command createextension due to missing parameter name"
    else:
        raise AssertionError("createExtension without a name succeeded")


def test_bad_signature_is_401(server):
    r = requests.get(server.url, params={"command": "listZones", "response": "json", "apiKey": server.api_key, "signature": "bogus"})
    assert r.status_code == 401
    assert r.json()["listzonesresponse"]["errorcode"] == 401


def test_libcloud_lists(server, cs):
    zone = cs.createZone(name="compat-libcloud-zone", dns1="192.0.2.1")["zone"]
    offering = cs.createServiceOffering(name="compat-libcloud-size", cpunumber=2, cpuspeed=1000, memory=1024)["serviceoffering"]
    cls = get_driver(Provider.CLOUDSTACK)
    driver = cls(key=server.api_key, secret=server.secret, url=server.url, secure=False)
    assert zone["id"] in [loc.id for loc in driver.list_locations()]
    sizes = {s.id: s for s in driver.list_sizes()}
    assert sizes[offering["id"]].ram == 1024
    assert driver.list_images() == [] or all(i.id for i in driver.list_images())
