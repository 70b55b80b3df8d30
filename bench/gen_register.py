#!/usr/bin/env python3
"""Writes a register snapshot CSV (Chinese headers, valid citizen IDs) for
bench/register-import.sh: gen_register.py ROWS OUT.csv"""
import random
import sys

W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
C = "10X98765432"
rows, out = int(sys.argv[1]), sys.argv[2]
random.seed(1)
surnames, given = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗", "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂"
with open(out, "w") as f:
    f.write("身份证号,姓名,性别,出生日期,民族,住址,户号,状态\n")
    for i in range(rows):
        y, m, d, seq = random.randint(1930, 2020), random.randint(1, 12), random.randint(1, 28), random.randint(0, 999)
        body = f"110105{y:04d}{m:02d}{d:02d}{seq:03d}"
        cid = body + C[sum(int(a) * w for a, w in zip(body, W)) % 11]
        name = random.choice(surnames) + random.choice(given) + (random.choice(given) if random.random() < 0.6 else "")
        f.write(f"{cid},{name},{'1' if seq % 2 else '2'},{y:04d}-{m:02d}-{d:02d},{random.choice(['01', '03'])},"
                f"北京市朝阳区某某街道{i % 500}号,H{i // 3:07d},active\n")
