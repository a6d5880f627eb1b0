"""Churn probability for each customer of a CSV: python3 predict.py model.pkl customers.csv"""
import csv, math, pickle, sys


def score(model, row):
    x1, x2 = float(row["tenure"]) / 72, float(row["monthly_charges"]) / 120
    return 1 / (1 + math.exp(-(model["w"][0] * x1 + model["w"][1] * x2 + model["b"])))


if __name__ == "__main__":
    model = pickle.load(open(sys.argv[1], "rb"))
    for row in csv.DictReader(open(sys.argv[2])):
        print(f"{score(model, row):.4f}")
