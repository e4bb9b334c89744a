import os
os.makedirs("output/many")
for i in range(8000):
    open("output/many/%05d.txt" % i, "w").write(str(i))
print("made")
