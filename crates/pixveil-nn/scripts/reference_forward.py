#!/usr/bin/env python3
# Reference forward pass with PyTorch semantics (NCHW conv, weight [o,i,kh,kw], view(-1,256), y = x W^T + b).
import json,struct,gzip,sys
b=open(sys.argv[1],'rb').read()
n=struct.unpack('<Q',b[:8])[0]; h=json.loads(b[8:8+n]); d=b[8+n:]
W={k:list(struct.unpack('<%df'%((v['data_offsets'][1]-v['data_offsets'][0])//4), d[v['data_offsets'][0]:v['data_offsets'][1]])) for k,v in h.items() if k!='__metadata__'}
img=gzip.open('/work/shared/data/mnist/t10k-images-idx3-ubyte.gz').read()[16:]
lab=gzip.open('/work/shared/data/mnist/t10k-labels-idx1-ubyte.gz').read()[8:]
N=int(sys.argv[2]); ok=0
for i in range(N):
    x=[p/255 for p in img[i*784:(i+1)*784]]
    a=[]
    for o in range(4):
        for oy in range(8):
            for ox in range(8):
                s=W['conv1.bias'][o]
                for ky in range(7):
                    for kx in range(7):
                        s+=W['conv1.weight'][o*49+ky*7+kx]*x[(oy*3+ky)*28+ox*3+kx]
                a.append(s*s)
    f=[(W['fc1.bias'][j]+sum(W['fc1.weight'][j*256+k]*a[k] for k in range(256)))**2 for j in range(64)]
    z=[W['fc2.bias'][j]+sum(W['fc2.weight'][j*64+k]*f[k] for k in range(64)) for j in range(10)]
    ok+= max(range(10),key=lambda j:z[j])==lab[i]
print('reference accuracy on first',N,':',ok/N)
