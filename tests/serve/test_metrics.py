"""The Prometheus metrics count every request served, by protocol and status."""

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_serving.apis import prediction_service_pb2_grpc

from tests.serve.test_grpc import channel_of
from tests.serve.test_grpc import predict_request
from tests.serve.test_grpc import serve


def samples(text):
    """`{(name, labels as sorted tuple): value}` of a scrape."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def requests_counted(scraped, **labels):
    wanted = {"model": "beam", "version": "1", **labels}
    return sum(
        value
        for (name, sample_labels), value in scraped.items()
        if name == "s2s_keras_requests_total"
        and wanted.items() <= dict(sample_labels).items()
    )


def test_every_request_is_counted_by_protocol_signature_and_status(servable):
    with serve(servable, max_rows=4) as server, channel_of(server) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        with httpx2.Client(base_url=server.url, timeout=60) as client:
            for texts in (["a b"], ["c", "d"], ["e"] * 5):  # the last: 413
                client.post("/v1/models/beam:predict", json={"instances": texts})
            client.post("/v1/models/beam:predict", content=b"{not json")  # 400
            for texts in (["a b"], ["c"]):
                stub.Predict(predict_request(text=texts), timeout=30)
            with pytest.raises(Exception, match="--max-rows"):
                stub.Predict(predict_request(text=["e"] * 5), timeout=30)
            scrape = client.get("/monitoring/prometheus/metrics")
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain")
    scraped = samples(scrape.text)
    rest = {"protocol": "rest"}
    assert requests_counted(scraped, signature="serving_default", status="200", **rest) == 2  # fmt: skip
    assert requests_counted(scraped, signature="serving_default", status="413", **rest) == 1  # fmt: skip
    assert requests_counted(scraped, signature="", status="400", **rest) == 1
    grpc = {"protocol": "grpc", "signature": "serving_default"}
    assert requests_counted(scraped, status="200", **grpc) == 2
    assert requests_counted(scraped, status="413", **grpc) == 1
    assert requests_counted(scraped) == 7
    latency_count = sum(
        value
        for (name, _), value in scraped.items()
        if name == "s2s_keras_request_seconds_count"
    )
    assert latency_count == 7
    # Four requests answered one after another: 5 rows in 4 calls.
    key = ("model", "beam"), ("signature", "serving_default")
    assert scraped[("s2s_keras_batch_rows_sum", key)] == 5
    assert scraped[("s2s_keras_batch_rows_count", key)] == 4
    assert scraped[("s2s_keras_queued_requests", (("model", "beam"),))] == 0
    loads = (("model", "beam"), ("version", "1"))
    assert scraped[("s2s_keras_model_loads_total", loads)] == 1
