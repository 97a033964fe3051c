"""A PyTorch Dataset over a featcache cache's features or maps: fine-tune or train a head in
PyTorch on top of the cache without computing the backbone again. Importing this module needs
torch; the rest of the package does not.

    from featcache.torch import CachedDataset
    ds = CachedDataset(fc, "hymenoptera", model="mobilenet_v2_1.0_224.onnx", views=["orig", "flip"])
    loader = torch.utils.data.DataLoader(ds, batch_size=32, shuffle=True)
"""
import torch
import torch.utils.data


class CachedDataset(torch.utils.data.Dataset):
    """The rows of Cache.features(dataset, model=..., layer=..., split=..., view=V) for each V in
    `views`, in that order: len is items x views, item i of view k is index k * items + i (as
    `featcache train --views` trains on every listed view of each training item). Each index gives
    (tensor, target): the tensor as cached (float32; a (C, H, W) map keeps its shape), the target the
    index of the item's label in `classes` (sorted labels; -1 for an unlabeled item). Features are
    read once, at construction. Other keywords (size, crop, preprocess, dtype, grayscale, name,
    strict) go to Cache.features. transform / target_transform apply per item."""

    def __init__(self, cache, dataset, model, layer=None, views=("orig",), split="train", transform=None,
                 target_transform=None, **options):
        if isinstance(views, str):
            views = [v for v in views.split(",") if v]
        self.views = list(views)
        if not self.views:
            raise ValueError("views: give at least one view")
        blocks, labels = [], None
        for v in self.views:
            X, y, info = cache.features(dataset, model=model, layer=layer, split=split, view=v, **options)
            blocks.append(torch.from_numpy(X))
            if labels is None:
                labels, self.info = y, info
        self.classes = sorted(set(labels.tolist()) - {""})
        index = {c: i for i, c in enumerate(self.classes)}
        self.targets = torch.tensor([index.get(l, -1) for l in labels.tolist()], dtype=torch.long)
        self.features = torch.cat(blocks) if len(blocks) > 1 else blocks[0]
        self.items = len(labels)
        self.transform, self.target_transform = transform, target_transform

    def __len__(self):
        return self.items * len(self.views)

    def __getitem__(self, i):
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError("index %d out of range (%d rows)" % (i, len(self)))
        x, t = self.features[i], self.targets[i % self.items]
        if self.transform is not None:
            x = self.transform(x)
        if self.target_transform is not None:
            t = self.target_transform(t)
        return x, t
