"""A multilayer perceptron, as a user's model.py has it."""

from torch import nn


class MLP(nn.Module):
    def __init__(self, features=20, hidden=48, classes=5):
        super().__init__()
        self.fc1 = nn.Linear(features, hidden)
        self.fc2 = nn.Linear(hidden, hidden // 2)
        self.drop = nn.Dropout(0.2)
        self.head = nn.Linear(hidden // 2, classes)

    def forward(self, x):
        x = self.fc1(x).relu()
        x = self.drop(self.fc2(x).relu())
        return self.head(x)
