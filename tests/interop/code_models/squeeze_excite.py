"""A network of squeeze-and-excitation blocks (Hu et al. 2018): channel weights from pooled features, as SENet's code has them."""

from torch import nn


class SqueezeExcite(nn.Module):
    def __init__(self, channels, reduction=4):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(channels, channels // reduction, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(channels // reduction, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x):
        b, c, _, _ = x.size()
        y = self.avg_pool(x).view(b, c)
        y = self.fc(y).view(b, c, 1, 1)
        return x * y.expand_as(x)


class SEBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.se = SqueezeExcite(cout)

    def forward(self, x):
        return self.se(self.relu(self.bn(self.conv(x))))


class SENet(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(SEBlock(3, 16), nn.MaxPool2d(2), SEBlock(16, 32), SEBlock(32, 32))
        self.classifier = nn.Linear(32, classes)

    def forward(self, x):
        return self.classifier(self.features(x).mean(dim=(2, 3)))
