"""A CPU-only model actor for ndif 0.1.2 (which assumes CUDA everywhere).

ndif's stock ModelActor calls torch.cuda.* during load/cleanup and
verify_device_placement() insists every tensor is on CUDA. This subclass drops the
(fake) GPU allocation the controller hands it, loads on CPU, and skips the CUDA calls.
"""

import gc

import ray
from ndif.services.ray.deployments.modeling.base import BaseModelDeployment
from nnsight.modeling.huggingface import HuggingFaceModel


class _CPUDeployment(BaseModelDeployment):
    CACHEABLE = False

    def __init__(self, *args, gpu_mem_bytes_by_id=None, **kwargs):
        super().__init__(*args, gpu_mem_bytes_by_id={}, **kwargs)

    def load_from_disk(self):
        model = HuggingFaceModel.from_model_key(
            self.model_key, dispatch=True, dtype=self.dtype_name, device="cpu", **self.kwargs
        )
        model._module.requires_grad_(False)
        return model

    def cleanup(self):
        self.kill_switch.clear()
        self.kill_reason = None
        self.execution_ident = None
        self.model.interleaver.cancel()
        gc.collect()


@ray.remote(num_cpus=0, max_restarts=0)
class CPUModelActor(_CPUDeployment):
    pass
