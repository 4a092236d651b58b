"""Gamma speed on a pair of 128^3 grids (2 mm voxels) at 2 %/2 mm, cut-off 10 %: the figure in README.md.

Run: PYTHONPATH=src python benchmarks/gamma_128.py   (add --gpu to use CuPy)
"""

import sys
import time

import numpy as np
from scipy.special import erf
from braggdesk.model import Volume
from braggdesk.analysis.gamma import GammaCriteria, gamma_index

xp = np
if "--gpu" in sys.argv:
    import cupy as xp
n=128
z,y,x=np.meshgrid(*(np.arange(n)*2.0,)*3, indexing="ij")
def edge(u,a,b,s): return 0.5*(erf((u-a)/s)-erf((u-b)/s))
def dose(shift): return (2*edge(x+shift,60,200,4)*edge(y,60,200,4)*edge(z,40,180,3)).astype(np.float32)
ref=Volume(dose(0),(2,2,2),(0,0,0))
rng=np.random.default_rng(1)
cases={"shift 1 mm + 1 % noise": dose(1.0)*(1+0.01*rng.standard_normal((n,n,n))).astype(np.float32),
       "scaled by 1.03 (adversarial)": dose(0)*1.03}
for name, ev in cases.items():
    for local in (False, True):
        t=time.time(); r=gamma_index(ref, Volume(ev,(2,2,2),(0,0,0)), GammaCriteria(local=local), xp=xp); dt=time.time()-t
        print(f"{name:32s} {'local ' if local else 'global'} {dt:6.2f} s  pass {r.pass_rate_percent:6.2f} %  evaluated {r.evaluated_voxels}", flush=True)
